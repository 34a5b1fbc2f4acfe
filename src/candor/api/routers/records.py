"""`POST /v1/sources/{source}/records`: a source submits a batch of records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from candor.api.auth import allow
from candor.api.deps import RegistryDep, SettingsDep, SourceName, StoreDep
from candor.api.models import IngestOut, RecordBatch, RejectOut
from candor.domain.access import Principal, Role
from candor.services.ingestion import ingest_objects

router = APIRouter(prefix="/v1", tags=["records"])


@router.post(
    "/sources/{source}/records",
    response_model=IngestOut,
    summary="Submit a batch of records",
    description="Checks every record, commits the valid ones durably and answers only after "
    "the commit. Re-sending a record unchanged counts as a duplicate; a changed record under "
    "the same source_record_id is rejected (send a correction with refers_to instead). "
    "Only the source's own client may submit (403 otherwise).",
)
def submit_records(
    source: SourceName,
    batch: RecordBatch,
    store: StoreDep,
    settings: SettingsDep,
    registry: RegistryDep,
    caller: Annotated[Principal, allow(Role.SOURCE)],
) -> IngestOut:
    caller.may_submit_for(source)
    result = ingest_objects(store, settings, registry, source, batch.records)
    return IngestOut(
        ingestion=result.ingestion_id,
        accepted=result.accepted,
        rejected=result.rejected,
        duplicates=result.duplicates,
        rejects=[
            RejectOut(
                row=r.row, field=r.field, reason=r.reason, source_record_id=r.source_record_id
            )
            for r in result.rejects
        ],
    )

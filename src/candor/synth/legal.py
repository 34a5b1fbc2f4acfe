"""Legal-basis citations the synthetic sources write on their records.

Real instruments, cited the way a clerk would: the SPC provisions on the list of dishonest
judgment debtors, the Civil Procedure Law in the version in force on the decision date, the
Civil Code, SAMR and SAIC orders, State Council regulations and Rongcheng's credit measures
(see shared/reference/real-rules.md). Article numbers are given only where they are certain.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt

from candor.synth.timeline import Days, day_number

Strings = npt.NDArray[np.str_]

# --- Courts ---
DISHONEST_LIST = "Fa Shi [2017] No. 7"
# Articles of the 2017 text; the 2021 revision (in force 1 January 2022) added 7 articles
# before the enforcement part and the 2023 revision (in force 1 January 2024) 11.
CPL_ENFORCEMENT_NOTICE = 240
CPL_NON_PERFORMANCE_MEASURES = 255  # credit-reporting records, publication of non-performance
CPL_VERSIONS: tuple[tuple[date, str, int], ...] = (
    (date(2024, 1, 1), "2023", 11),
    (date(2022, 1, 1), "2021", 7),
    (date(2017, 7, 1), "2017", 0),
)


def civil_procedure(article_2017: int, decided: Days) -> Strings:
    """'Civil Procedure Law (<version>) Art. <n>' as numbered in the version of each date."""
    # Newest first; a date before every version listed gets the oldest one.
    out = np.empty(len(decided), dtype="<U48")
    done = np.zeros(len(decided), dtype=bool)
    for i, (in_force, version, shift) in enumerate(CPL_VERSIONS):
        applies = ~done
        if i < len(CPL_VERSIONS) - 1:
            applies &= decided >= day_number(in_force)
        out[applies] = f"Civil Procedure Law ({version}) Art. {article_2017 + shift}"
        done |= applies
    return out


def enforcement_order(decided: Days) -> Strings:
    notice = civil_procedure(CPL_ENFORCEMENT_NOTICE, decided)
    # Art. 5: the enforcement notice must warn of the risk of listing.
    return np.char.add(notice, f"; {DISHONEST_LIST} Art. 5")


def dishonest_debtor_finding(
    ground: npt.NDArray[np.int64], aggravated: npt.NDArray[np.bool_], decided: Days
) -> Strings:
    grounds = np.char.add(f"{DISHONEST_LIST} Art. 1 ground ", ground.astype(str))
    extended = np.where(aggravated, f"; {DISHONEST_LIST} Art. 2 para. 1 (extension)", "")
    measures = np.char.add("; ", civil_procedure(CPL_NON_PERFORMANCE_MEASURES, decided))
    return np.char.add(np.char.add(grounds, extended), measures)


# Art. 10: removal from the list.
OBLIGATION_PERFORMED = f"{DISHONEST_LIST} Art. 10 item 1 (obligation performed)"
SETTLEMENT_PERFORMED = f"{DISHONEST_LIST} Art. 10 item 2 (settlement agreement performed)"
TERMINATED_NO_ASSETS = f"{DISHONEST_LIST} Art. 10 item 4 (no property found)"
# Art. 12: correction of an erroneous listing on the debtor's application.
LISTING_CORRECTED = f"{DISHONEST_LIST} Art. 12 (erroneous listing corrected)"
# Cases that never reached the list end under the Civil Procedure Law alone.
PERFORMED_BEFORE_LISTING = "Civil Procedure Law: obligation performed, enforcement concluded"
TERMINATED_BEFORE_LISTING = (
    "Civil Procedure Law: current round of enforcement terminated, no property found"
)
CONTRACT_BREACH = "Civil Code Art. 577 (liability for breach of contract)"

# --- Banks and the financial regulator ---
CREDIT_REPORTING = (
    "Regulations on the Administration of the Credit Reporting Industry "
    "(State Council Order No. 631)"
)
LOAN_DEFAULT = f"Civil Code Art. 676 (overdue repayment); {CREDIT_REPORTING}"
CARD_OVERDUE = (
    "Measures on the Supervision and Administration of Credit Card Business of Commercial "
    f"Banks (CBRC Order 2011 No. 2); {CREDIT_REPORTING}"
)
GUARANTOR_BREACH = f"Civil Code Art. 681 (contracts of suretyship); {CREDIT_REPORTING}"
BANK_CORRECTION = f"{CREDIT_REPORTING}: correction of an error in a credit record"
ILLEGAL_FUNDRAISING = (
    "Regulations on Preventing and Dealing with Illegal Fundraising (State Council Order No. 737)"
)

# --- Market regulator ---
ENTERPRISE_PUBLICITY = "Interim Regulations on Enterprise Information Publicity"
ADMIN_PENALTY_AREAS = {
    "general": "Administrative Penalty Law (2021)",
    "special_equipment": "Special Equipment Safety Law",
    "work_safety": "Work Safety Law (2021)",
    "fire_safety": "Fire Protection Law",
}
SERIOUS_DISHONESTY = "SAMR Order No. 44"
PENALTY_PUBLICITY = f"{ENTERPRISE_PUBLICITY} Art. 6"
PENALTY_REVOKED = "Administrative Reconsideration Law: penalty decision revoked on reconsideration"
ABNORMAL_OPERATIONS = f"SAIC Order No. 68 Art. 4; {ENTERPRISE_PUBLICITY} Art. 17"
ABNORMAL_OPERATIONS_CLEARED = "SAIC Order No. 68: removed from the list after correction"
FRAUD_KINDS = {
    "pyramid": "Regulations on the Prohibition of Pyramid Selling (State Council Order No. 444)",
    "fraud": "Anti-Unfair Competition Law Art. 8 (false commercial publicity)",
    "counterfeit": "Product Quality Law Art. 50 (passing off fake goods as genuine)",
    "other": "Rongcheng credit assessment table: other commercial dishonesty",
}

# --- Utilities ---
RONGCHENG_SCORES = (
    "Rongcheng Measures on the Management of Personal Creditworthiness Scores, Attachment 1"
)
UTILITY_CONTRACTS = "Civil Code Art. 654 and 656 (late payment of utility charges)"
UNPAID_FEES_RULING = f"{UTILITY_CONTRACTS}; civil judgment of the people's court"
HEATING_TAPPING = (
    "Civil Code Art. 656 (heat supply contracts): illegal tapping of the heating supply"
)
POWER_THEFT = "Electricity Law Art. 71 (theft of electricity)"
OTHER_THEFT = "Public Security Administration Punishments Law Art. 49 (theft)"
EQUIPMENT_DAMAGE = (
    "Public Security Administration Punishments Law Art. 33 (damaging public utility facilities)"
)

# --- Traffic police ---
TRAFFIC_VIOLATION = "Road Traffic Safety Law Art. 90"
DRUNK_DRIVING = "Road Traffic Safety Law Art. 91 para. 2; Criminal Law Art. 133-1"
TICKET_REVOKED = "Administrative Reconsideration Law: traffic penalty revoked on reconsideration"

# --- Volunteer registry and credit office ---
VOLUNTEER_SERVICE = "Regulations on Volunteer Service (State Council Order No. 685)"
HEROIC_ACT = (
    "Shandong Province Regulations on Rewarding and Protecting Persons Who Act Bravely for a "
    "Just Cause; Rongcheng Measures on Personal Credit Rewards and Punishments"
)
CONSENT_GRANTED = f"Personal Information Protection Law Art. 13 and 14; {RONGCHENG_SCORES}"
CONSENT_WITHDRAWN = "Personal Information Protection Law Art. 15 (withdrawal of consent)"


def for_persons(basis: str | Strings, person: npt.NDArray[np.bool_]) -> Strings:
    """Add Rongcheng's personal credit measures where the subject is a person.

    Rongcheng's measures score residents, so they are no basis for a record about a firm.
    """
    return np.where(person, np.char.add(basis, f"; {RONGCHENG_SCORES}"), basis)

from candor.cli import main

main()

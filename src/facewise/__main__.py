from facewise.cli.main import main

main()

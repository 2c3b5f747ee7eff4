from payhooks.cli import main

main()

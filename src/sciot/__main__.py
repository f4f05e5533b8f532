from sciot.cli.app import main

main()

from envfactory.cli.app import main

main()

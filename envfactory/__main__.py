from envfactory.cli import main

main()

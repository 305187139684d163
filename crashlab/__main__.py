from crashlab.cli import main

main()

from crashlab.entry import main

main()

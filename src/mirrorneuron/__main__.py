from mirrorneuron.cli import main

main()

# `python -m tixel` is what torchrun launches, so it must be the same CLI as the `tixel` script.
from tixel.cli import main

main()

"""`python main.py` == `fsmde-gui`: the FSMDE Studio desktop app."""
import sys

from fsmde_gui.app.launch import main

if __name__ == "__main__":
    sys.exit(main())

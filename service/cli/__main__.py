"""``python -m service.cli``: the ``handsup`` command (the dev supervisor starts the worker so).

May import ``service.cli`` only.
"""

from service.cli import main

if __name__ == "__main__":
    main()

"""`python -m islr.landmarks [VENV]`: build the extractor's venv now (used by
scripts/landmarks_env.sh)."""

import sys

from islr.landmarks.env import main

sys.exit(main())

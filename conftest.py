"""pytest settings for the whole repository (tests/ and the notebooks run by nbval).

Notebooks under test use CogVideoX-nano (the kit's trained tiny model) and write their videos to a temporary folder;
kernels started by nbval inherit these variables.
"""

import os
import tempfile

os.environ["COGVIDEOX_MODEL"] = "nano"
os.environ["COGVIDEOX_OUTPUTS"] = tempfile.mkdtemp(prefix="cogvideox-test-outputs-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

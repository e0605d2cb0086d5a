"""Wire models shared by the runtime, the service clients and the local backend."""

from aiodurable.wire.models import *  # noqa: F403
from aiodurable.wire.models import __all__ as __all__

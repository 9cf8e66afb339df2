"""Imports every module that defines tables, so the metadata (and Alembic) sees all of them."""

from __future__ import annotations

from testigo.capture import models as _capture_models  # noqa: F401
from testigo.db import models  # noqa: F401
from testigo.jobs import models as _jobs_models  # noqa: F401
from testigo.records import models as records_models  # noqa: F401
from testigo.web import models as _web_models  # noqa: F401

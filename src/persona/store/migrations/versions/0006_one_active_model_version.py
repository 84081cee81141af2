"""one model registry: at most one active version per model name (the prediction stages left every version active)

Before this revision the prediction stages (churn, propensity, spend, CLV) wrote their own rows into ``models`` with
``status = 'active'`` for every version, beside the registry that keeps one active version per name and calls the
ones it replaced ``retired``. They now register through the registry; this data migration gives their existing rows
the registry's meaning: the newest active version of each name stays active, the older active ones become retired
(they were in use before it, which is what ``rollback`` steps back to).

The table and its columns are unchanged. Their artifacts stay where they are: a row's ``artifact_path`` names the
single model file those stages wrote, and the registry reads it as it is (files are not moved by a database migration,
which cannot roll them back and may run on a host that does not hold them).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12 10:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_models = sa.table("models", sa.column("name", sa.String), sa.column("version", sa.Integer),
                   sa.column("status", sa.String))


def upgrade() -> None:
    """Retire every active version that a newer active version of the same name replaced."""
    newer = _models.alias("newer")
    newest_active = (sa.select(sa.func.max(newer.c.version))
                     .where(newer.c.name == _models.c.name, newer.c.status == "active").scalar_subquery())
    op.execute(_models.update().where(_models.c.status == "active", _models.c.version < newest_active)
               .values(status="retired"))


def downgrade() -> None:
    """Nothing to undo: revision 0005 reads ``retired`` rows as they are, and its newest active version is unchanged."""

"""model retention: a version whose artifact ``persona models prune`` deleted keeps its row, marked ``pruned_at``

Pruned rows also get ``status = 'pruned'`` (written by the registry, not by this migration), which a Persona that
predates this revision reads as neither active nor retired: it never loads one by default (the newest version of a
name is never pruned), and its rollback picks one only when no retired version is left. The rows and the artifacts of
existing versions are unchanged: nothing is pruned until someone asks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14 10:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pruned_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema: the pruned rows keep ``status = 'pruned'`` (see above)."""
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.drop_column('pruned_at')

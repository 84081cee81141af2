"""source cursors: where incremental pulls of SQL queries and REST APIs resume

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 19:55:36.432162

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('source_cursors',
    sa.Column('source_key', sa.String(length=32), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('cursor_column', sa.String(length=256), nullable=False),
    sa.Column('cursor_value', sa.Text(), nullable=False),
    sa.Column('cursor_type', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('source_key', name=op.f('pk_source_cursors'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('source_cursors')

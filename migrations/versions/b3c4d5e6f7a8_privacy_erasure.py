"""Personal data: when an account or an order was erased, and the finance staff flag

Revision ID: b3c4d5e6f7a8
Revises: b0c1d2e3f4a5
Create Date: 2026-12-06 22:15:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'b3c4d5e6f7a8'
down_revision = 'b0c1d2e3f4a5'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, not a batch: on SQLite a batch would copy and drop `users`, which rows
    # of other tables reference.
    op.add_column('users', sa.Column('finance', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.add_column('users', sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('orders', sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE orders DROP COLUMN erased_at')
        op.execute('ALTER TABLE users DROP COLUMN erased_at')
        op.execute('ALTER TABLE users DROP COLUMN finance')
        return
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('finance')

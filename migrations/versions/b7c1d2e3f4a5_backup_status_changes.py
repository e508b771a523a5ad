"""backup status changes: one audit row per change of a vault backup's status

Backups already in the vault get no history rows: their history starts with their next change.

Revision ID: b7c1d2e3f4a5
Revises: a3eb5cb6a622
Create Date: 2026-12-08 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c1d2e3f4a5'
down_revision = 'a3eb5cb6a622'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('vault_backup_status_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('backup_id', sa.Uuid(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['backup_id'], ['vault_backups.id'], name=op.f('fk_vault_backup_status_changes_backup_id_vault_backups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vault_backup_status_changes'))
    )
    with op.batch_alter_table('vault_backup_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vault_backup_status_changes_backup_id'), ['backup_id'], unique=False)


def downgrade():
    with op.batch_alter_table('vault_backup_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vault_backup_status_changes_backup_id'))

    op.drop_table('vault_backup_status_changes')

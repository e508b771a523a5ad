"""Payouts: SEPA credit-transfer files, payout status and its audit, resellers' bank details

Payouts made before this revision were paid outside any file: they become `settled`, so no
credit-transfer file ever pays them again.

Revision ID: d1e2f3a4b5c6
Revises: a4b5c6d7e8f9
Create Date: 2026-12-08 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa



revision = 'd1e2f3a4b5c6'
down_revision = 'a4b5c6d7e8f9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('commission_payout_batches',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('execution_date', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('debtor_name', sa.String(length=70), nullable=False),
    sa.Column('debtor_iban', sa.String(length=34), nullable=False),
    sa.Column('debtor_bic', sa.String(length=11), nullable=False),
    sa.Column('schema', sa.String(length=20), nullable=False),
    sa.Column('transfers', sa.Integer(), nullable=False),
    sa.Column('total_cents', sa.Integer(), nullable=False),
    sa.Column('xml', sa.LargeBinary(), nullable=False),
    sa.CheckConstraint('transfers > 0', name=op.f('ck_commission_payout_batches_transfers_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_payout_batches')),
    sa.UniqueConstraint('number', name=op.f('uq_commission_payout_batches_number'))
    )
    with op.batch_alter_table('commission_payout_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commission_payout_batches_execution_date'), ['execution_date'], unique=False)

    op.create_table('reseller_bank_details_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reseller_id', sa.Uuid(), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reseller_id'], ['resellers.id'], name=op.f('fk_reseller_bank_details_changes_reseller_id_resellers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reseller_bank_details_changes'))
    )
    with op.batch_alter_table('reseller_bank_details_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reseller_bank_details_changes_reseller_id'), ['reseller_id'], unique=False)

    with op.batch_alter_table('resellers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bank_iban', sa.String(length=34), nullable=True))
        batch_op.add_column(sa.Column('bank_bic', sa.String(length=11), nullable=True))
        batch_op.add_column(sa.Column('bank_holder', sa.String(length=70), nullable=True))
        batch_op.add_column(sa.Column('bank_details_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('commission_payouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('batch_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('iban', sa.String(length=34), nullable=True))
        batch_op.add_column(sa.Column('bic', sa.String(length=11), nullable=True))
        batch_op.add_column(sa.Column('holder', sa.String(length=70), nullable=True))
    op.execute("UPDATE commission_payouts SET status = 'settled'")
    with op.batch_alter_table('commission_payouts', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=24), nullable=False)
        batch_op.create_index(batch_op.f('ix_commission_payouts_batch_id'), ['batch_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_commission_payouts_batch_id_commission_payout_batches'), 'commission_payout_batches', ['batch_id'], ['id'])
        batch_op.create_check_constraint('status_known', "status IN ('computed', 'awaiting_bank_details', 'in_file', 'settled')")
        batch_op.create_check_constraint('filed_in_batch', "(status = 'in_file') = (batch_id IS NOT NULL)")

    op.create_table('commission_payout_status_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('payout_id', sa.Uuid(), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=True),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payout_id'], ['commission_payouts.id'], name=op.f('fk_commission_payout_status_changes_payout_id_commission_payouts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_payout_status_changes'))
    )
    with op.batch_alter_table('commission_payout_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commission_payout_status_changes_payout_id'), ['payout_id'], unique=False)


def downgrade():
    with op.batch_alter_table('commission_payout_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commission_payout_status_changes_payout_id'))
    op.drop_table('commission_payout_status_changes')

    with op.batch_alter_table('commission_payouts', schema=None) as batch_op:
        batch_op.drop_constraint('filed_in_batch', type_='check')
        batch_op.drop_constraint('status_known', type_='check')
        batch_op.drop_constraint(batch_op.f('fk_commission_payouts_batch_id_commission_payout_batches'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_commission_payouts_batch_id'))
        batch_op.drop_column('holder')
        batch_op.drop_column('bic')
        batch_op.drop_column('iban')
        batch_op.drop_column('batch_id')
        batch_op.drop_column('status')

    with op.batch_alter_table('resellers', schema=None) as batch_op:
        batch_op.drop_column('bank_details_at')
        batch_op.drop_column('bank_holder')
        batch_op.drop_column('bank_bic')
        batch_op.drop_column('bank_iban')

    with op.batch_alter_table('reseller_bank_details_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reseller_bank_details_changes_reseller_id'))
    op.drop_table('reseller_bank_details_changes')

    with op.batch_alter_table('commission_payout_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commission_payout_batches_execution_date'))
    op.drop_table('commission_payout_batches')

"""Credit lines (encours): accounts, extras, entries, payments, monthly statements, changes

Revision ID: f3a4b5c6d7e8
Revises: d1e2f3a4b5c6
Create Date: 2026-12-07 14:19:03.687789

"""
from alembic import op
import sqlalchemy as sa


revision = 'f3a4b5c6d7e8'
down_revision = 'd1e2f3a4b5c6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('credit_accounts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reseller_id', sa.Uuid(), nullable=False),
    sa.Column('limit_cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('term_days', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=25), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('limit_cents >= 0', name=op.f('ck_credit_accounts_limit_not_negative')),
    sa.CheckConstraint('term_days >= 0 AND term_days <= 60', name=op.f('ck_credit_accounts_term_days_range')),
    sa.ForeignKeyConstraint(['reseller_id'], ['resellers.id'], name=op.f('fk_credit_accounts_reseller_id_resellers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_accounts')),
    sa.UniqueConstraint('reference', name=op.f('uq_credit_accounts_reference')),
    sa.UniqueConstraint('reseller_id', name=op.f('uq_credit_accounts_reseller_id'))
    )
    op.create_table('credit_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['credit_accounts.id'], name=op.f('fk_credit_changes_account_id_credit_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_changes'))
    )
    with op.batch_alter_table('credit_changes', schema=None) as batch_op:
        batch_op.create_index('ix_credit_changes_account_at', ['account_id', 'at'], unique=False)

    op.create_table('credit_extras',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=160), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('wholesaler_code', sa.String(length=32), nullable=True),
    sa.Column('step_cents', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_credit_extras_amount_positive')),
    sa.CheckConstraint('step_cents IS NULL OR step_cents > 0', name=op.f('ck_credit_extras_step_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['credit_accounts.id'], name=op.f('fk_credit_extras_account_id_credit_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_extras'))
    )
    with op.batch_alter_table('credit_extras', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_extras_account_id'), ['account_id'], unique=False)

    op.create_table('credit_payments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=24), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('gateway', sa.String(length=16), nullable=True),
    sa.Column('gateway_reference', sa.String(length=255), nullable=True),
    sa.Column('bank_reference', sa.String(length=120), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=True),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['credit_accounts.id'], name=op.f('fk_credit_payments_account_id_credit_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_payments')),
    sa.UniqueConstraint('bank_reference', name=op.f('uq_credit_payments_bank_reference')),
    sa.UniqueConstraint('gateway_reference', name=op.f('uq_credit_payments_gateway_reference')),
    sa.UniqueConstraint('number', name=op.f('uq_credit_payments_number'))
    )
    with op.batch_alter_table('credit_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_payments_account_id'), ['account_id'], unique=False)

    op.create_table('credit_statements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('opening_cents', sa.Integer(), nullable=False),
    sa.Column('charges_cents', sa.Integer(), nullable=False),
    sa.Column('credits_cents', sa.Integer(), nullable=False),
    sa.Column('closing_cents', sa.Integer(), nullable=False),
    sa.Column('overdue_cents', sa.Integer(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('csv', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('emailed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['credit_accounts.id'], name=op.f('fk_credit_statements_account_id_credit_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_statements')),
    sa.UniqueConstraint('account_id', 'month', name=op.f('uq_credit_statements_account_id_month')),
    sa.UniqueConstraint('number', name=op.f('uq_credit_statements_number'))
    )
    op.create_table('credit_entries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('refund_id', sa.Uuid(), nullable=True),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('booked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['credit_accounts.id'], name=op.f('fk_credit_entries_account_id_credit_accounts')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_credit_entries_order_id_orders')),
    sa.ForeignKeyConstraint(['payment_id'], ['credit_payments.id'], name=op.f('fk_credit_entries_payment_id_credit_payments')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_credit_entries_refund_id_refunds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_entries')),
    sa.UniqueConstraint('order_id', name=op.f('uq_credit_entries_order_id')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_credit_entries_payment_id')),
    sa.UniqueConstraint('refund_id', name=op.f('uq_credit_entries_refund_id'))
    )
    with op.batch_alter_table('credit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_credit_entries_account_booked', ['account_id', 'booked_at'], unique=False)



def downgrade():
    with op.batch_alter_table('credit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_entries_account_booked')

    op.drop_table('credit_entries')
    op.drop_table('credit_statements')
    with op.batch_alter_table('credit_payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_payments_account_id'))

    op.drop_table('credit_payments')
    with op.batch_alter_table('credit_extras', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_extras_account_id'))

    op.drop_table('credit_extras')
    with op.batch_alter_table('credit_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_changes_account_at')

    op.drop_table('credit_changes')
    op.drop_table('credit_accounts')

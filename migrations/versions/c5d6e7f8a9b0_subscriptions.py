"""Subscriptions: monthly or annual Microsoft 365 contracts, their items, charges, changes, history

Revision ID: c5d6e7f8a9b0
Revises: b1c2d3e4f5a6
Create Date: 2026-12-07 14:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c5d6e7f8a9b0'
down_revision = 'b1c2d3e4f5a6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subscriptions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('buyer_id', sa.Uuid(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('origin_order_id', sa.Uuid(), nullable=False),
    sa.Column('reseller_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('current_period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('current_period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancel_at_period_end', sa.Boolean(), nullable=False),
    sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('past_due_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('gateway', sa.String(length=16), nullable=False),
    sa.Column('customer_reference', sa.String(length=255), nullable=True),
    sa.Column('gateway_subscription', sa.String(length=255), nullable=True),
    sa.Column('payment_method', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('term_months IN (1, 12)', name=op.f('ck_subscriptions_term_monthly_or_annual')),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_subscriptions_buyer_id_users')),
    sa.ForeignKeyConstraint(['origin_order_id'], ['orders.id'], name=op.f('fk_subscriptions_origin_order_id_orders')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_subscriptions_partner_id_partners')),
    sa.ForeignKeyConstraint(['reseller_id'], ['resellers.id'], name=op.f('fk_subscriptions_reseller_id_resellers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
    sa.UniqueConstraint('gateway_subscription', name=op.f('uq_subscriptions_gateway_subscription')),
    sa.UniqueConstraint('number', name=op.f('uq_subscriptions_number'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_current_period_end'), ['current_period_end'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_origin_order_id'), ['origin_order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_reseller_id'), ['reseller_id'], unique=False)

    op.create_table('subscription_items',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('product_code', sa.String(length=60), nullable=False),
    sa.Column('product_name', sa.String(length=160), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('unit_price_cents', sa.Integer(), nullable=False),
    sa.Column('vat_rate', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('origin_order_line_id', sa.Uuid(), nullable=True),
    sa.Column('wholesaler_code', sa.String(length=32), nullable=True),
    sa.Column('supplier_subscription_id', sa.String(length=120), nullable=True),
    sa.CheckConstraint('seats BETWEEN 1 AND 300', name=op.f('ck_subscription_items_seats_range')),
    sa.CheckConstraint('unit_price_cents >= 0', name=op.f('ck_subscription_items_price_not_negative')),
    sa.ForeignKeyConstraint(['origin_order_line_id'], ['order_lines.id'], name=op.f('fk_subscription_items_origin_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_subscription_items_product_id_products')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_subscription_items_subscription_id_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_items')),
    sa.UniqueConstraint('origin_order_line_id', name=op.f('uq_subscription_items_origin_order_line_id')),
    sa.UniqueConstraint('subscription_id', 'product_id', name=op.f('uq_subscription_items_subscription_id_product_id'))
    )
    with op.batch_alter_table('subscription_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_items_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('subscription_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('reseller_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('seats BETWEEN 1 AND 300', name=op.f('ck_subscription_changes_seats_range')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_subscription_changes_product_id_products')),
    sa.ForeignKeyConstraint(['reseller_id'], ['resellers.id'], name=op.f('fk_subscription_changes_reseller_id_resellers')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_subscription_changes_subscription_id_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_changes')),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_subscription_changes_token_sha256'))
    )
    with op.batch_alter_table('subscription_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_changes_reseller_id'), ['reseller_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_changes_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('subscription_charges',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('change_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('gateway_reference', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['change_id'], ['subscription_changes.id'], name=op.f('fk_subscription_charges_change_id_subscription_changes')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_subscription_charges_order_id_orders')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_subscription_charges_subscription_id_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_charges')),
    sa.UniqueConstraint('change_id', name=op.f('uq_subscription_charges_change_id')),
    sa.UniqueConstraint('gateway_reference', name=op.f('uq_subscription_charges_gateway_reference')),
    sa.UniqueConstraint('order_id', name=op.f('uq_subscription_charges_order_id')),
    sa.UniqueConstraint('subscription_id', 'kind', 'period_start', name=op.f('uq_subscription_charges_subscription_id_kind_period_start'))
    )
    with op.batch_alter_table('subscription_charges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_charges_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscription_charges_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('subscription_history',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_subscription_history_order_id_orders')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_subscription_history_subscription_id_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_history'))
    )
    with op.batch_alter_table('subscription_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_history_subscription_id'), ['subscription_id'], unique=False)

    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renews_subscription_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('subscription_action', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('subscription_event', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('seats', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('renews_from', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_order_lines_renews_subscription_id'), ['renews_subscription_id'], unique=False)

    with op.batch_alter_table('fulfilment_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supplier_subscription_id', sa.String(length=120), nullable=True))


def downgrade():
    with op.batch_alter_table('fulfilment_lines', schema=None) as batch_op:
        batch_op.drop_column('supplier_subscription_id')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_renews_subscription_id'))
        batch_op.drop_column('renews_from')
        batch_op.drop_column('seats')
        batch_op.drop_column('subscription_event')
        batch_op.drop_column('subscription_action')
        batch_op.drop_column('renews_subscription_id')
    op.drop_table('subscription_history')
    op.drop_table('subscription_charges')
    op.drop_table('subscription_changes')
    op.drop_table('subscription_items')
    op.drop_table('subscriptions')

"""Indexes for the pages that list at scale: a partner's offers in order, orders by date,
partner, status and e-mail, a reseller's clients by date

Revision ID: 1a2b3c4d5e6f
Revises: e2f3a4b5c6d7
Create Date: 2026-12-08 00:00:00

"""
from alembic import op

revision = '1a2b3c4d5e6f'
down_revision = 'e2f3a4b5c6d7'
branch_labels = None
depends_on = None

# (table, index, columns, index it makes redundant)
INDEXES = [
    ('partner_products', 'ix_partner_products_partner_listed',
     ['partner_id', 'position', 'available'], 'ix_partner_products_partner_id'),
    ('products', 'ix_products_kind_active', ['kind', 'is_active'], None),
    ('orders', 'ix_orders_partner_created', ['partner_id', 'created_at'], 'ix_orders_partner_id'),
    ('orders', 'ix_orders_payment_created', ['payment_status', 'created_at'], None),
    ('orders', 'ix_orders_fulfilment_created', ['fulfilment_status', 'created_at'], None),
    ('orders', 'ix_orders_created_at', ['created_at'], None),
    ('orders', 'ix_orders_paid_at', ['paid_at'], None),
    ('orders', 'ix_orders_email', ['email'], None),
    ('reseller_clients', 'ix_reseller_clients_reseller_attached', ['reseller_id', 'attached_at'],
     'ix_reseller_clients_reseller_id'),
]


def upgrade():
    for table, name, columns, replaced in INDEXES:
        op.create_index(name, table, columns, unique=False)
        if replaced:
            op.drop_index(replaced, table_name=table)


def downgrade():
    for table, name, columns, replaced in reversed(INDEXES):
        if replaced:
            op.create_index(replaced, table, [columns[0]], unique=False)
        op.drop_index(name, table_name=table)

"""VAT by country on orders: billing address, tax treatment, location evidence, VIES, terms

Revision ID: b0c1d2e3f4a5
Revises: a8b9c0d1e2f3
Create Date: 2026-12-06 22:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'b0c1d2e3f4a5'
down_revision = 'a8b9c0d1e2f3'
branch_labels = None
depends_on = None

TEXTS = (('billing_line1', 200), ('billing_postcode', 16), ('billing_city', 100))
NULLABLE = (('ip_country', 2), ('card_country', 2), ('vies_status', 16),
            ('vies_reference', 64), ('terms_version', 40))


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        for name, length in TEXTS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False,
                                          server_default=''))
        batch_op.add_column(sa.Column('tax_treatment', sa.String(length=16), nullable=False,
                                      server_default='standard'))
        batch_op.add_column(sa.Column('vat_country', sa.String(length=2), nullable=False,
                                      server_default='FR'))
        batch_op.add_column(sa.Column('location_conflict', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        for name, length in NULLABLE:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
        batch_op.add_column(sa.Column('vies_checked_at', sa.DateTime(timezone=True),
                                      nullable=True))
    # Orders placed so far were all charged French VAT on the billing country's word.
    op.execute("UPDATE orders SET vat_country = 'FR'")


def downgrade():
    names = [n for n, _ in TEXTS] + [n for n, _ in NULLABLE] + [
        'tax_treatment', 'vat_country', 'location_conflict', 'vies_checked_at']
    if op.get_bind().dialect.name == 'sqlite':
        for name in names:
            op.execute(f'ALTER TABLE orders DROP COLUMN {name}')
        return
    with op.batch_alter_table('orders', schema=None) as batch_op:
        for name in names:
            batch_op.drop_column(name)

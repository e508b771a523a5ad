"""Invoices and credit notes: one table, numbered per merchant and year, issued once

Revision ID: b1c2d3e4f5a6
Revises: b3c4d5e6f7a8
Create Date: 2026-12-06 21:54:33.137950

"""
from alembic import op
import sqlalchemy as sa



revision = 'b1c2d3e4f5a6'
down_revision = 'b3c4d5e6f7a8'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('invoices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('once_key', sa.String(length=64), nullable=False),
    sa.Column('merchant_key', sa.String(length=36), nullable=False),
    sa.Column('seller_partner_id', sa.Uuid(), nullable=True),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('series', sa.String(length=16), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('refund_id', sa.Uuid(), nullable=True),
    sa.Column('refers_to_id', sa.Uuid(), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('net_cents', sa.Integer(), nullable=False),
    sa.Column('vat_cents', sa.Integer(), nullable=False),
    sa.Column('total_cents', sa.Integer(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('pdf_key', sa.String(length=200), nullable=True),
    sa.Column('rendered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_invoices_order_id_orders')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_invoices_partner_id_partners')),
    sa.ForeignKeyConstraint(['refers_to_id'], ['invoices.id'], name=op.f('fk_invoices_refers_to_id_invoices')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_invoices_refund_id_refunds')),
    sa.ForeignKeyConstraint(['seller_partner_id'], ['partners.id'], name=op.f('fk_invoices_seller_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('merchant_key', 'number', name=op.f('uq_invoices_merchant_key_number')),
    sa.UniqueConstraint('once_key', name=op.f('uq_invoices_once_key')),
    sa.UniqueConstraint('refund_id', name=op.f('uq_invoices_refund_id'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_merchant_issued', ['merchant_key', 'issued_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_partner_id'), ['partner_id'], unique=False)



def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoices_partner_id'))
        batch_op.drop_index(batch_op.f('ix_invoices_order_id'))
        batch_op.drop_index('ix_invoices_merchant_issued')

    op.drop_table('invoices')

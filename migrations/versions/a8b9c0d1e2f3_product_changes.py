"""The audit of the platform's catalogue: product_changes

Revision ID: a8b9c0d1e2f3
Revises: f7a8b9c0d1e2
Create Date: 2026-12-03 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a8b9c0d1e2f3'
down_revision = 'f7a8b9c0d1e2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('product_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_changes_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_changes'))
    )
    op.create_index('ix_product_changes_product_at', 'product_changes', ['product_id', 'at'], unique=False)


def downgrade():
    op.drop_index('ix_product_changes_product_at', table_name='product_changes')
    op.drop_table('product_changes')

"""Products' pictures uploaded by the operator (renditions per width, and on the product what
pages need to show them), and the product line whose editions a buyer compares

Revision ID: 4d5e6f7a8b9c
Revises: 1a2b3c4d5e6f
Create Date: 2026-12-08 00:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '4d5e6f7a8b9c'
down_revision = '1a2b3c4d5e6f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('picture_digest', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('picture_alt', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('picture_width', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('picture_height', sa.Integer(), nullable=True))

    op.create_table('product_pictures',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=16), nullable=False),
    sa.Column('mime', sa.String(length=40), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_pictures_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_pictures')),
    sa.UniqueConstraint('product_id', 'width', name=op.f('uq_product_pictures_product_id_width'))
    )


def downgrade():
    op.drop_table('product_pictures')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('picture_height')
        batch_op.drop_column('picture_width')
        batch_op.drop_column('picture_alt')
        batch_op.drop_column('picture_digest')
        batch_op.drop_column('line')

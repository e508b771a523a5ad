"""Partner onboarding: status, merchant of record, legal identity, scheduled prices, audit,
operator API keys

Revision ID: c4d5e6f7a8b9
Revises: 029c2ea00119
Create Date: 2026-12-02 19:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c4d5e6f7a8b9'
down_revision = '029c2ea00119'
branch_labels = None
depends_on = None

LEGAL = (('legal_name', 160), ('legal_form', 40), ('siren', 9), ('rcs_city', 80),
         ('vat_number', 20), ('registered_office', 300), ('publication_director', 120),
         ('host_details', 300), ('mediator_name', 160), ('mediator_url', 300))


def upgrade():
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=False,
                                      server_default='draft'))
        batch_op.add_column(sa.Column('merchant_of_record', sa.String(length=16), nullable=False,
                                      server_default='platform'))
        for name, length in LEGAL:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False,
                                          server_default=''))
        batch_op.add_column(sa.Column('next_price_at', sa.DateTime(timezone=True), nullable=True))
    # Shops that were serving stay open; the others were switched off by hand: suspended.
    op.execute("UPDATE partners SET status = CASE WHEN is_active THEN 'open' ELSE 'suspended' END")
    _drop_columns('partners', ['is_active'])

    op.create_table('partner_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_changes_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_changes'))
    )
    op.create_index('ix_partner_changes_partner_at', 'partner_changes', ['partner_id', 'at'], unique=False)
    op.create_table('partner_scheduled_prices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('offer_id', sa.Uuid(), nullable=False),
    sa.Column('price_cents', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['offer_id'], ['partner_products.id'], name=op.f('fk_partner_scheduled_prices_offer_id_partner_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_scheduled_prices')),
    sa.UniqueConstraint('offer_id', 'starts_at', name=op.f('uq_partner_scheduled_prices_offer_id_starts_at'))
    )
    with op.batch_alter_table('partner_scheduled_prices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_scheduled_prices_offer_id'), ['offer_id'], unique=False)
    op.create_table('operator_api_keys',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('prefix', sa.String(length=20), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_operator_api_keys_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_operator_api_keys_key_hash'))
    )
    with op.batch_alter_table('operator_api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operator_api_keys_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('operator_api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operator_api_keys_user_id'))
    op.drop_table('operator_api_keys')
    with op.batch_alter_table('partner_scheduled_prices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_scheduled_prices_offer_id'))
    op.drop_table('partner_scheduled_prices')
    op.drop_index('ix_partner_changes_partner_at', table_name='partner_changes')
    op.drop_table('partner_changes')
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_active', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
    op.execute("UPDATE partners SET is_active = (status = 'open')")
    _drop_columns('partners', ['next_price_at', *(n for n, _ in reversed(LEGAL)),
                               'merchant_of_record', 'status'])


def _drop_columns(table, names):
    """SQLite drops a column in place (3.35+): a batch copy of partners would be refused by the
    foreign keys that point at it."""
    if op.get_bind().dialect.name == 'sqlite':
        for name in names:
            op.execute(f'ALTER TABLE {table} DROP COLUMN {name}')
        return
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in names:
            batch_op.drop_column(name)

"""Account use cases."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from commerce.models import Order, Partner, Role, User
from commerce.orders import order_by_claim_token
from extensions import db
from storefront.accounts.passwords import check_password, hash_password


class AccountError(ValueError):
    """An account operation refused; field names the form field concerned."""

    def __init__(self, message: str, field: str = "email") -> None:
        super().__init__(message)
        self.field = field


def normalise_email(email: str) -> str:
    return email.strip().lower()


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


def authenticate(email: str, password: str, role: Role | None = None) -> User | None:
    user = user_by_email(email)
    if not check_password(user.password_hash if user else None, password):
        return None
    if user is None or not user.active or (role is not None and user.role != role):
        return None
    return user


def sign_up(email: str, name: str, password: str) -> User:
    user = User(
        email=normalise_email(email),
        name=name.strip(),
        password_hash=hash_password(password),
        role=Role.BUYER,
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AccountError("an account already uses this e-mail address") from None
    return user


def claim_order(token: str, user: User, partner: Partner) -> Order | None:
    """Attach a guest order to the signed-in buyer; the token is single-use."""
    order = order_by_claim_token(token)
    if order is None or order.partner_id != partner.id:
        return None
    if order.buyer_id is not None and order.buyer_id != user.id:
        return None
    order.buyer_id = user.id
    order.claim_token_hash = None
    db.session.commit()
    return order


def orders_of(user: User, partner: Partner) -> list[Order]:
    return list(
        db.session.scalars(
            select(Order)
            .where(Order.buyer_id == user.id, Order.partner_id == partner.id)
            .order_by(Order.created_at.desc())
        )
    )

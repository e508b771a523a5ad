"""Back office: a product of the platform's catalogue, with its picture and its history."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import StringField
from wtforms.validators import Length

from commerce.models import Product
from extensions import db
from partners.catalogue import product_history
from partners.pictures import ALT_MAX, remove_picture, store_picture
from partners.validation import PartnerError
from storefront.backoffice.auth import operator_required
from storefront.backoffice.blueprint import bp
from storefront.backoffice.views import operator_actor
from storefront.forms import EmptyForm


class PictureForm(FlaskForm):
    picture = FileField(_l("Picture (PNG, JPEG or WebP, at least 200 pixels a side)"))
    alt = StringField(_l("What the picture shows, in French"), validators=[Length(max=ALT_MAX)])
    alt_en = StringField(_l("What the picture shows, in English"),
                         validators=[Length(max=ALT_MAX)])


def _product(code: str) -> Product:
    return db.session.scalar(select(Product).where(Product.code == code)) or abort(404)


def _page(product: Product, form: PictureForm | None = None,
          status: int = 200) -> tuple[str, int]:
    if form is None:
        form = PictureForm(alt=product.picture_alt, alt_en=(
            (product.translations or {}).get("en") or {}).get("picture_alt", ""))
    return render_template("backoffice/product.html", product=product, form=form,
                           history=product_history(product.code, limit=50),
                           remove_form=EmptyForm(), logout_form=EmptyForm()), status


@bp.get("/products/<code>")
@operator_required
def product(code: str) -> tuple[str, int]:
    return _page(_product(code))


@bp.post("/products/<code>/picture")
@operator_required
def product_picture(code: str) -> Response | tuple[str, int]:
    """Replace the product's picture with the file sent, described in each language."""
    found = _product(code)
    form = PictureForm()
    if not form.validate():
        return _page(found, form, 400)
    upload = request.files.get("picture")
    data = b""
    if upload and upload.filename:
        data = upload.read()
        upload.close()  # its spooled file goes now, not with the request
    try:
        store_picture(found, data, form.alt.data or "", alt_en=form.alt_en.data,
                      actor=operator_actor())
    except PartnerError as exc:
        db.session.rollback()
        found = _product(code)
        for field, message in exc.errors.items():
            form[field].errors = [*form[field].errors, str(message)]
        return _page(found, form, 400)
    db.session.commit()
    flash(_("%(product)s: picture saved.", product=found.name), "success")
    return redirect(url_for("backoffice.product", code=code))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> Response | tuple[str, int]:
    """A file over the size every request is held to: say so on the page it was sent from."""
    code = (request.view_args or {}).get("code")
    if request.endpoint != "backoffice.product_picture" or not code:
        return error  # type: ignore[return-value]
    flash(_("The picture is larger than %(size)s MB.",
            size=f"{current_app.config['PRODUCT_PICTURE_MAX_BYTES'] / (1024 * 1024):g}"),
          "error")
    return redirect(url_for("backoffice.product", code=code))


@bp.post("/products/<code>/picture/remove")
@operator_required
def product_picture_remove(code: str) -> Response:
    if not EmptyForm().validate():
        abort(400)
    found = _product(code)
    if remove_picture(found, actor=operator_actor()):
        db.session.commit()
        flash(_("%(product)s: picture removed.", product=found.name), "success")
    return redirect(url_for("backoffice.product", code=code))

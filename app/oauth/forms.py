"""The OAuth pages' forms: consent, and the device verification page (RFC 8628 3.3)."""

from flask_babel import gettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, ValidationError

from app.core.text import lazy_gettext
from app.oauth import device


class ConsentForm(FlaskForm):
    decision = HiddenField()


class DeviceCodeEntryForm(FlaskForm):
    """The code shown on the device; a valid one exposes its pending request as ``device_request``."""

    user_code = StringField(
        lazy_gettext("Code"),
        validators=[
            DataRequired(lazy_gettext("Enter the code shown on your device.")),
            Length(max=device.MAX_USER_CODE_INPUT, message=lazy_gettext("That is longer than a device code.")),
        ],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
    device_request = None

    def validate_user_code(self, field) -> None:
        self.device_request = device.find_pending_by_user_code(field.data)
        if self.device_request is None:
            raise ValidationError(
                gettext(
                    "That code isn't valid or has expired. Check the code on your device, or start again there for a new one."
                )
            )


class DeviceDecisionForm(FlaskForm):
    """Approve or deny one device request; the code rides along and is looked up again."""

    user_code = HiddenField(validators=[DataRequired(), Length(max=device.MAX_USER_CODE_INPUT)])
    decision = HiddenField(validators=[AnyOf(["approve", "deny"])])


class LogoutConfirmForm(FlaskForm):
    """The RP-initiated logout request, carried through the confirmation page and checked again on submit."""

    id_token_hint = HiddenField(validators=[Length(max=4096)])
    client_id = HiddenField(validators=[Length(max=64)])
    post_logout_redirect_uri = HiddenField(validators=[Length(max=500)])
    state = HiddenField(validators=[Length(max=1024)])

from django.urls import path

from careseal.consent import views as consent_views
from careseal.portal import accounts, contact, passkeys, secure_reply, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in", views.sign_in, name="sign_in"),
    path("sign-out", views.sign_out, name="sign_out"),
    path("language", views.set_language, name="set_language"),
    path("p/<str:token>", views.pickup_link, name="pickup_link"),
    path("pickup", views.pickup, name="pickup"),
    path("consent", consent_views.consent_page, name="consent"),
    path("consent/revoke", consent_views.revoke, name="consent_revoke"),
    path("r/<str:token>", secure_reply.reply_link, name="reply_link"),
    path("reply/<int:delivery_id>", secure_reply.secure_reply, name="secure_reply"),
    path("pickup/code", views.send_code, name="send_code"),
    path("verify", views.verify, name="verify"),
    path("messages/", views.inbox, name="inbox"),
    path("messages/<str:escrow_id>", views.message, name="message"),
    path("messages/<str:escrow_id>/html/<int:index>", views.html_part, name="html_part"),
    path("messages/<str:escrow_id>/attachments/<int:index>", views.attachment, name="attachment"),
    path("messages/<str:escrow_id>/download", views.download, name="download"),
    path("messages/<str:escrow_id>/reply", views.reply, name="reply"),
    path("messages/<str:escrow_id>/access", views.access_code, name="access_code"),
    path("static/portal.css", views.stylesheet, name="stylesheet"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("contact", contact.contact, name="contact"),
    path("contact/start", contact.contact_start, name="contact_start"),
    path("sign-in/password", accounts.password_sign_in, name="password_sign_in"),
    path("account/password", accounts.set_password, name="set_password"),
    path("account/passkeys", passkeys.passkey_page, name="passkeys"),
    path("account/passkeys/options", passkeys.registration_options, name="passkey_registration_options"),
    path("account/passkeys/register", passkeys.register, name="passkey_register"),
    path("sign-in/passkey/options", passkeys.authentication_options, name="passkey_authentication_options"),
    path("sign-in/passkey", passkeys.authenticate, name="passkey_authenticate"),
    path("static/passkeys.js", views.passkeys_script, name="passkeys_script"),
]

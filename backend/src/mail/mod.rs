//! Outgoing mail: invitations, password resets and budget alerts over SMTP (lettre), with plain-text bodies from
//! askama templates. Only configured when `mail.smtp_url` is set; without it the API shows links
//! to the person who asked for them instead.

use askama::Template;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{ConfigError, MailConfig, SmtpUrl};

/// A message body with its subject.
pub trait Mail: Template {
    fn subject(&self) -> String;
}

#[derive(Template)]
#[template(path = "mail/invitation.txt")]
pub struct InvitationMail<'a> {
    pub tenant: &'a str,
    pub inviter: &'a str,
    pub link: &'a str,
    pub expires: String,
}

impl Mail for InvitationMail<'_> {
    fn subject(&self) -> String {
        format!("You are invited to {} on Nimbus", self.tenant)
    }
}

#[derive(Template)]
#[template(path = "mail/password_reset.txt")]
pub struct PasswordResetMail<'a> {
    pub link: &'a str,
    pub expires: String,
}

impl Mail for PasswordResetMail<'_> {
    fn subject(&self) -> String {
        "Reset your Nimbus password".to_owned()
    }
}

#[derive(Template)]
#[template(path = "mail/budget_alert.txt")]
pub struct BudgetAlertMail<'a> {
    pub title: &'a str,
    pub text: &'a str,
}

impl Mail for BudgetAlertMail<'_> {
    fn subject(&self) -> String {
        self.title.to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail could not be composed: {0}")]
    Compose(String),
    #[error("the mail server refused or could not be reached: {0}")]
    Send(#[from] lettre::transport::smtp::Error),
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// The configured mailer; `None` when no SMTP server is configured.
    pub fn from_config(config: &MailConfig) -> Result<Option<Self>, ConfigError> {
        let Some(url) = &config.smtp_url else {
            return Ok(None);
        };
        Ok(Some(Self {
            transport: Self::transport(url)?,
            from: config.sender()?,
        }))
    }

    /// The SMTP transport for `url` (`smtp://` with `?tls=required|opportunistic`, or `smtps://`).
    pub fn transport(url: &SmtpUrl) -> Result<AsyncSmtpTransport<Tokio1Executor>, ConfigError> {
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
            .map(|builder| {
                builder
                    .timeout(Some(std::time::Duration::from_secs(10)))
                    .build()
            })
            .map_err(|err| ConfigError::new(format!("mail.smtp_url ({url}) is not usable: {err}")))
    }

    pub async fn send(&self, to: &str, mail: &impl Mail) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|err: lettre::address::AddressError| MailError::Compose(err.to_string()))?;
        let body = mail
            .render()
            .map_err(|err| MailError::Compose(err.to_string()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|err| MailError::Compose(err.to_string()))?;
        self.transport.send(message).await?;
        Ok(())
    }
}

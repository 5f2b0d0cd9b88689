//! The product's one way to do background work and to send messages: the job runner
//! and the notification outbox.
//!
//! A use case writes jobs and messages through its own [`Tx`] (`Tx::enqueue_job`,
//! `Tx::enqueue_message`), so they exist exactly when its change committed. The
//! [`Worker`] claims due rows with a lease and
//! - delivers messages through the adapters ([`Email`] over SMTP, [`Sms`] through an
//!   HTTP gateway; inbox messages need no delivery), at most `concurrency` at a time,
//!   retrying with capped exponential back-off until `dead`;
//! - runs jobs through the handler registered for their kind ([`Jobs`]), each in one
//!   transaction with its completion, so a job's effects and its being done commit
//!   together.
//!
//! Messages leave only through here: nothing else in Forecourt talks to an SMTP server
//! or an SMS gateway. A crash between a delivery and its record sends the message again
//! after the lease runs out, with the same `message_id` (the email's Message-ID, the
//! gateway's `id`), so the far side can drop the second copy; at most `concurrency`
//! messages are in flight, which bounds those duplicates.

use crate::{App, AppError, AppResult};
use forecourt_store::outbox::{Channel, Job, Message};
use forecourt_store::{StoreError, Tx};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Where outgoing messages go, and how hard the worker tries.
#[derive(Clone)]
pub struct Settings {
    pub smtp: Option<SmtpSettings>,
    /// `From:` of every email (`FORECOURT_SMTP_FROM`).
    pub smtp_from: Option<String>,
    /// The SMS gateway (`FORECOURT_SMS_URL`), `http://host:port/path`.
    pub sms_url: Option<String>,
    /// Messages in flight at once (claimed and not yet recorded).
    pub concurrency: usize,
    /// How long a claim holds a row; past it the row is another worker's to take. Longer
    /// than the slowest delivery (the adapters time out at a third of it).
    pub lease: Duration,
    /// Attempts before a message or job is `dead`.
    pub max_attempts: i64,
    /// The first retry's delay, doubled at each attempt up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long the worker sleeps when nothing is due.
    pub poll: Duration,
    /// Where members reach the server (`FORECOURT_PUBLIC_URL`, https in production):
    /// the base of the unsubscribe links in marketing messages.
    pub public_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            smtp: None,
            smtp_from: None,
            sms_url: None,
            concurrency: 4,
            lease: Duration::from_secs(60),
            max_attempts: 8,
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(3600),
            poll: Duration::from_millis(500),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("smtp", &self.smtp)
            .field("smtp_from", &self.smtp_from)
            .field("sms_url", &self.sms_url)
            .field("concurrency", &self.concurrency)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Email is sent only with both a server and a sender.
    pub fn email_configured(&self) -> bool {
        self.smtp.is_some() && self.smtp_from.is_some()
    }

    pub fn sms_configured(&self) -> bool {
        self.sms_url.is_some()
    }
}

/// `smtp://[user[:password]@]host[:port]`. Its `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "smtp://{}{}:{}",
            self.user
                .as_deref()
                .map(|u| format!("{u}:***@"))
                .unwrap_or_default(),
            self.host,
            self.port
        )
    }
}

impl SmtpSettings {
    /// Parses `FORECOURT_SMTP_URL`. Only plain `smtp://`: this build carries no TLS
    /// stack, so the server is a relay on a trusted network (or this machine).
    pub fn parse(url: &str) -> AppResult<Self> {
        let bad = |why: &str| AppError::validation("FORECOURT_SMTP_URL", why);
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(|| bad("is smtp://[user[:password]@]host[:port] (no TLS in this build)"))?;
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(u.to_string()), None),
            },
            None => (None, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse().map_err(|_| bad("has a port that is no number"))?,
            ),
            None => (hostport, 25),
        };
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
            user,
            password,
        })
    }
}

/// The delay before attempt `attempts + 1` after `attempts` failed ones: `base`,
/// doubled at each attempt, never more than `cap`.
pub fn backoff(attempts: i64, base: Duration, cap: Duration) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    base.saturating_mul(1u32 << doublings).min(cap)
}

/// Why a delivery did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// A refusal that trying again cannot change (a malformed address, a 4xx from the
    /// gateway, a 5xx from the SMTP server): the message is `dead` at once.
    pub permanent: bool,
    pub message: String,
}

impl DeliveryError {
    fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            message: message.into(),
        }
    }

    fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            message: message.into(),
        }
    }
}

/// The Message-ID header of a message: its stable id at Forecourt's domain.
pub fn message_id_header(message_id: &str) -> String {
    format!("<{message_id}@forecourt>")
}

/// Email over SMTP (lettre, plain SMTP, one connection per message).
#[derive(Clone)]
pub struct Email {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Email {
    pub fn new(smtp: &SmtpSettings, from: &str, timeout: Duration) -> AppResult<Self> {
        let from = from
            .parse()
            .map_err(|e| AppError::validation("FORECOURT_SMTP_FROM", e))?;
        let mut builder =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&smtp.host)
                .port(smtp.port)
                .timeout(Some(timeout));
        if let Some(user) = &smtp.user {
            builder =
                builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                    user.clone(),
                    smtp.password.clone().unwrap_or_default(),
                ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Sends one email; a marketing email names its unsubscribe link in
    /// `List-Unsubscribe` with RFC 8058's one-click `List-Unsubscribe-Post`.
    pub async fn send(
        &self,
        m: &Message,
        unsubscribe: Option<&str>,
    ) -> Result<Option<String>, DeliveryError> {
        use lettre::message::header::{HeaderName, HeaderValue};
        use lettre::AsyncTransport;
        let to: lettre::message::Mailbox = m
            .address
            .as_deref()
            .ok_or_else(|| DeliveryError::permanent("no email address"))?
            .parse()
            .map_err(|e| DeliveryError::permanent(format!("email address: {e}")))?;
        let mut builder = lettre::Message::builder()
            .message_id(Some(message_id_header(&m.message_id)))
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone().unwrap_or_default())
            .header(lettre::message::header::ContentType::TEXT_PLAIN);
        if let Some(url) = unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_string(),
                ));
        }
        let email = builder
            .body(m.body.clone())
            .map_err(|e| DeliveryError::permanent(format!("building the email: {e}")))?;
        match self.transport.send(email).await {
            Ok(response) => Ok(Some(
                format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )
                .trim()
                .to_string(),
            )),
            Err(e) if e.is_permanent() => Err(DeliveryError::permanent(e.to_string())),
            Err(e) => Err(DeliveryError::transient(e.to_string())),
        }
    }
}

/// SMS through an HTTP gateway: `POST {id, to, text}` as JSON, accepted on 2xx. `id`
/// is the message's stable id, for the gateway to drop a resend.
#[derive(Clone)]
pub struct Sms {
    url: hyper::Uri,
    timeout: Duration,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<hyper::body::Bytes>,
    >,
}

impl Sms {
    pub fn new(url: &str, timeout: Duration) -> AppResult<Self> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| AppError::validation("FORECOURT_SMS_URL", e))?;
        if uri.scheme_str() != Some("http") {
            return Err(AppError::validation(
                "FORECOURT_SMS_URL",
                "is http://host[:port]/path (no TLS in this build)",
            ));
        }
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        Ok(Self {
            url: uri,
            timeout,
            client,
        })
    }

    pub async fn send(&self, m: &Message) -> Result<Option<String>, DeliveryError> {
        let to = m
            .address
            .as_deref()
            .ok_or_else(|| DeliveryError::permanent("no phone number"))?;
        let body = serde_json::json!({"id": m.message_id, "to": to, "text": m.body}).to_string();
        let request = hyper::Request::post(self.url.clone())
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
            .map_err(|e| DeliveryError::permanent(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| DeliveryError::transient("the SMS gateway did not answer in time"))?
            .map_err(|e| DeliveryError::transient(format!("SMS gateway: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(Some(status.as_u16().to_string()))
        } else if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
            Err(DeliveryError::permanent(format!(
                "SMS gateway answered {status}"
            )))
        } else {
            Err(DeliveryError::transient(format!(
                "SMS gateway answered {status}"
            )))
        }
    }
}

/// The adapters the settings allow.
#[derive(Clone, Default)]
pub struct Adapters {
    pub email: Option<Email>,
    pub sms: Option<Sms>,
}

impl Adapters {
    pub fn from_settings(s: &Settings) -> AppResult<Self> {
        let timeout = s.lease / 3;
        let email = match (&s.smtp, &s.smtp_from) {
            (Some(smtp), Some(from)) => Some(Email::new(smtp, from, timeout)?),
            _ => None,
        };
        let sms = s
            .sms_url
            .as_deref()
            .map(|u| Sms::new(u, timeout))
            .transpose()?;
        Ok(Self { email, sms })
    }

    /// The channels there is an adapter for: only these are claimed, so that messages
    /// of the others wait in the outbox until it is configured.
    pub fn channels(&self) -> Vec<Channel> {
        let mut out = Vec::new();
        if self.email.is_some() {
            out.push(Channel::Email);
        }
        if self.sms.is_some() {
            out.push(Channel::Sms);
        }
        out
    }

    async fn deliver(
        &self,
        m: &Message,
        unsubscribe: Option<&str>,
    ) -> Result<Option<String>, DeliveryError> {
        match (m.channel, &self.email, &self.sms) {
            (Channel::Email, Some(email), _) => email.send(m, unsubscribe).await,
            (Channel::Sms, _, Some(sms)) => sms.send(m).await,
            (channel, _, _) => Err(DeliveryError::transient(format!(
                "{channel} is not configured"
            ))),
        }
    }
}

/// What the console shows about the outbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    pub email_configured: bool,
    pub sms_configured: bool,
    /// `(channel, state, count)`.
    pub counts: Vec<(String, String, i64)>,
}

/// A job handler: runs `job` inside `tx`, which the runner commits together with the
/// job's completion.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = AppResult<()>> + Send + 'a>>;
type Handler = Arc<dyn for<'a> Fn(&'a App, &'a mut Tx, &'a Job) -> HandlerFuture<'a> + Send + Sync>;

/// The job handlers by kind.
#[derive(Clone, Default)]
pub struct Jobs {
    handlers: HashMap<String, Handler>,
}

impl Jobs {
    /// Registers the handler of a kind (one per kind; a second replaces the first).
    pub fn register<F>(&mut self, kind: &str, handler: F)
    where
        F: for<'a> Fn(&'a App, &'a mut Tx, &'a Job) -> HandlerFuture<'a> + Send + Sync + 'static,
    {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
    }

    pub fn kinds(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }
}

impl App {
    /// Whether email and SMS can leave, and the messages per channel and state.
    pub async fn outbox_status(&self) -> AppResult<Status> {
        let s = &self.config().outbox;
        Ok(Status {
            email_configured: s.email_configured(),
            sms_configured: s.sms_configured(),
            counts: self
                .store()
                .outbox_counts()
                .await?
                .into_iter()
                .map(|c| (c.channel, c.state, c.count))
                .collect(),
        })
    }
}

/// The most messages one test batch may hold.
pub const TEST_BATCH_MAX: i64 = 100_000;

impl App {
    /// Enqueues `count` test emails to `to` in one transaction, each with its own cause
    /// `test-batch:{batch}:{i}`: an operator's check that email leaves (and the outbox
    /// crash test's load). Returns the batch id.
    pub async fn enqueue_test_batch(&self, to: &str, count: i64) -> AppResult<String> {
        if !(1..=TEST_BATCH_MAX).contains(&count) {
            return Err(AppError::validation(
                "count",
                format!("is between 1 and {TEST_BATCH_MAX}"),
            ));
        }
        to.parse::<lettre::message::Mailbox>()
            .map_err(|e| AppError::validation("to", e))?;
        let batch = forecourt_store::new_id();
        let now = self.clock().now_us();
        let max_attempts = self.config().outbox.max_attempts;
        let mut tx = self.store().begin().await?;
        for i in 1..=count {
            tx.enqueue_message(
                &forecourt_store::outbox::NewMessage {
                    channel: Channel::Email,
                    recipient: format!("address:{to}"),
                    customer_id: None,
                    address: Some(to.to_string()),
                    subject: Some(format!("Forecourt test {i}/{count}")),
                    body: format!("Test message {i} of {count} of batch {batch}."),
                    cause: format!("test-batch:{batch}:{i}"),
                    max_attempts,
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(batch)
    }
}

/// The background worker: message delivery and the job runner.
#[derive(Clone)]
pub struct Worker {
    app: App,
    adapters: Adapters,
    jobs: Jobs,
    slots: Arc<tokio::sync::Semaphore>,
    /// When the escalation job last ran, by the application's clock (µs).
    last_escalation: Arc<std::sync::Mutex<Option<i64>>>,
}

impl Worker {
    pub fn new(app: App, jobs: Jobs) -> AppResult<Self> {
        let adapters = Adapters::from_settings(&app.config().outbox)?;
        Ok(Self::with_adapters(app, adapters, jobs))
    }

    pub fn with_adapters(app: App, adapters: Adapters, jobs: Jobs) -> Self {
        let slots = Arc::new(tokio::sync::Semaphore::new(
            app.config().outbox.concurrency.max(1),
        ));
        Self {
            app,
            adapters,
            jobs,
            slots,
            last_escalation: Default::default(),
        }
    }

    /// Runs the worker on a tokio task until the process ends.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let s = &self.app.config().outbox;
        if !s.email_configured() {
            tracing::warn!("email not configured (FORECOURT_SMTP_URL, FORECOURT_SMTP_FROM): email messages stay in the outbox");
        }
        if !s.sms_configured() {
            tracing::warn!(
                "SMS not configured (FORECOURT_SMS_URL): SMS messages stay in the outbox"
            );
        }
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let poll = self.app.config().outbox.poll;
        loop {
            // Every slot busy: wait for a delivery to finish rather than for the poll,
            // which would cap the rate at `concurrency` messages per poll.
            if let Ok(permit) = self.slots.acquire().await {
                drop(permit);
            }
            let busy = match self.tick().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e.message, "outbox worker: the database did not answer; trying again");
                    false
                }
            };
            if !busy {
                tokio::time::sleep(poll).await;
            }
        }
    }

    /// One round: runs the service desk's escalation job when it is due (every
    /// [`ESCALATION_EVERY_US`](crate::service_desk::ESCALATION_EVERY_US) of the
    /// application's clock), starts the delivery of as many due messages as there are
    /// free slots and runs the due jobs. Returns how many messages and jobs it took.
    pub async fn tick(&self) -> AppResult<usize> {
        // A failing escalation run (a ticket that does not replay, say) must not stop
        // the delivery of every other message.
        if let Err(e) = self.escalate_if_due().await {
            tracing::warn!(code = e.code, error = %e.message, "service desk escalation run failed");
        }
        let started = self.start_deliveries().await?;
        let ran = self.run_jobs().await?;
        Ok(started + ran)
    }

    /// The escalation job, at most once per interval; what it queues is delivered by
    /// the same round.
    async fn escalate_if_due(&self) -> AppResult<()> {
        let now = self.app.clock().now_us();
        let due = {
            let last = self
                .last_escalation
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // A clock moved back (tests) runs it too.
            last.is_none_or(|t| now < t || now - t >= crate::service_desk::ESCALATION_EVERY_US)
        };
        if !due {
            return Ok(());
        }
        // Recorded first: a run that fails is tried again at the next interval, not at
        // every round.
        *self
            .last_escalation
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(now);
        let run = crate::service_desk::run_escalations(&self.app, now).await?;
        if run.escalations > 0 || run.warnings > 0 || run.reminders > 0 {
            tracing::info!(
                escalations = run.escalations,
                warnings = run.warnings,
                reminders = run.reminders,
                messages = run.messages,
                "service desk: escalations, warnings and callback reminders queued"
            );
        }
        Ok(())
    }

    /// Claims due messages for the free slots and delivers each on its own task, holding
    /// its slot until the outcome is recorded.
    async fn start_deliveries(&self) -> AppResult<usize> {
        let channels = self.adapters.channels();
        let free = self.slots.available_permits();
        if channels.is_empty() || free == 0 {
            return Ok(0);
        }
        let s = &self.app.config().outbox;
        let lease = i64::try_from(s.lease.as_micros()).unwrap_or(i64::MAX);
        let claimed = self
            .app
            .store()
            .claim_messages(&channels, free as i64, lease, self.app.clock().now_us())
            .await?;
        let n = claimed.len();
        for m in claimed {
            let permit = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .map_err(AppError::internal)?;
            let worker = self.clone();
            tokio::spawn(async move {
                worker.deliver(m).await;
                drop(permit);
            });
        }
        Ok(n)
    }

    async fn deliver(&self, m: Message) {
        let token = m.lease_token.clone().unwrap_or_default();
        let store = self.app.store();
        // The contact rules once more, just before it leaves: an unsubscribe since it
        // was queued, or an expiry while it waited, stops it.
        match crate::contact::still_allowed(&self.app, &m, self.app.clock().now_us()).await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => {
                let done = store
                    .message_suppressed(
                        &m.message_id,
                        &token,
                        reason.as_str(),
                        self.app.clock().now_us(),
                    )
                    .await;
                if let Err(e) = done {
                    tracing::warn!(message_id = %m.message_id, error = %e, "suppression not recorded");
                }
                return;
            }
            Err(e) => {
                tracing::warn!(message_id = %m.message_id, error = %e.message, "contact rules not read; the message is tried when its lease runs out");
                return;
            }
        }
        let unsubscribe = match (&m.customer_id, m.kind.as_str()) {
            (Some(customer), "marketing") => Some(crate::contact::unsubscribe_url(
                &self.app, customer, m.channel,
            )),
            _ => None,
        };
        let outcome = self.adapters.deliver(&m, unsubscribe.as_deref()).await;
        let recorded = match &outcome {
            Ok(provider) => {
                store
                    .message_sent(
                        &m.message_id,
                        &token,
                        provider.as_deref(),
                        self.app.clock().now_us(),
                    )
                    .await
            }
            Err(e) => {
                let s = &self.app.config().outbox;
                let retry_at = (!e.permanent && m.attempts < m.max_attempts).then(|| {
                    self.app.clock().now_us()
                        + i64::try_from(
                            backoff(m.attempts, s.backoff_base, s.backoff_cap).as_micros(),
                        )
                        .unwrap_or(i64::MAX / 2)
                });
                tracing::warn!(message_id = %m.message_id, channel = %m.channel, attempt = m.attempts, error = %e.message, dead = retry_at.is_none(), "delivery failed");
                store
                    .message_failed(&m.message_id, &token, &e.message, retry_at)
                    .await
            }
        };
        match recorded {
            Ok(true) => {}
            // Another worker holds it now (our lease ran out): it sends it again with the
            // same id, which is what a crash would have done.
            Ok(false) => {
                tracing::warn!(message_id = %m.message_id, "outcome not recorded: the lease ran out")
            }
            Err(e) => {
                tracing::warn!(message_id = %m.message_id, error = %e, "outcome not recorded; the message is sent again when its lease runs out")
            }
        }
    }

    /// Claims the due jobs of the registered kinds and runs each in its transaction.
    async fn run_jobs(&self) -> AppResult<usize> {
        let kinds = self.jobs.kinds();
        if kinds.is_empty() {
            return Ok(0);
        }
        let s = &self.app.config().outbox;
        let lease = i64::try_from(s.lease.as_micros()).unwrap_or(i64::MAX);
        let claimed = self
            .app
            .store()
            .claim_jobs(
                &kinds,
                s.concurrency.max(1) as i64,
                lease,
                self.app.clock().now_us(),
            )
            .await?;
        let n = claimed.len();
        for job in claimed {
            if let Err(e) = self.run_job(&job).await {
                let retry_at = (job.attempts < job.max_attempts).then(|| {
                    self.app.clock().now_us()
                        + i64::try_from(
                            backoff(job.attempts, s.backoff_base, s.backoff_cap).as_micros(),
                        )
                        .unwrap_or(i64::MAX / 2)
                });
                tracing::warn!(job_id = %job.job_id, kind = %job.kind, attempt = job.attempts, error = %e.message, dead = retry_at.is_none(), "job failed");
                self.app
                    .store()
                    .job_failed(
                        &job.job_id,
                        &job.lease_token,
                        &format!("{}: {}", e.code, e.message),
                        retry_at,
                        self.app.clock().now_us(),
                    )
                    .await?;
            }
        }
        Ok(n)
    }

    async fn run_job(&self, job: &Job) -> AppResult<()> {
        let handler = self
            .jobs
            .handlers
            .get(&job.kind)
            .ok_or_else(|| AppError::internal(format!("no handler for {}", job.kind)))?
            .clone();
        let mut tx = self.app.store().begin().await?;
        handler(&self.app, &mut tx, job).await?;
        if !tx
            .finish_job(&job.job_id, &job.lease_token, self.app.clock().now_us())
            .await?
        {
            // Its lease ran out and another worker has it: our effects roll back.
            return Err(AppError::from(StoreError::Conflict(format!(
                "job {} is no longer this worker's",
                job.job_id
            ))));
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let (b, c) = (Duration::from_secs(30), Duration::from_secs(3600));
        let got: Vec<u64> = (1..=9).map(|a| backoff(a, b, c).as_secs()).collect();
        assert_eq!(got, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(1_000, b, c), c, "no overflow");
        assert_eq!(backoff(0, b, c), b);
    }

    #[test]
    fn smtp_urls_parse_and_hide_the_password() {
        let s = SmtpSettings::parse("smtp://mailer:s3cret@mail.example:2525").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("mail.example", 2525));
        assert_eq!(
            (s.user.as_deref(), s.password.as_deref()),
            (Some("mailer"), Some("s3cret"))
        );
        assert_eq!(format!("{s:?}"), "smtp://mailer:***@mail.example:2525");
        assert_eq!(SmtpSettings::parse("smtp://127.0.0.1").unwrap().port, 25);
        assert!(SmtpSettings::parse("smtps://mail.example").is_err());
        assert!(SmtpSettings::parse("smtp://:25").is_err());
    }
}

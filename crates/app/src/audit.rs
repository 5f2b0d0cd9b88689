//! What staff did or saw, appended to the audit log: on its own, or inside the
//! transaction of the change it records.

use crate::access::Actor;
use crate::error::AppResult;
use crate::App;
use forecourt_store::audit::AuditEntry;
use serde_json::Value;

/// Records what a staff member did or saw. `detail` must hold no personal data.
pub async fn audit(
    app: &App,
    me: &Actor,
    action: &str,
    kind: &str,
    id: Option<&str>,
    detail: Value,
) -> AppResult<()> {
    let actor = me.audit_name();
    app.store()
        .audit(&AuditEntry {
            actor: &actor,
            action,
            target_kind: kind,
            target_id: id,
            source: me.source.as_deref(),
            detail,
        })
        .await?;
    Ok(())
}

/// Records what a staff member did inside the transaction that does it, so that a
/// change and its audit entry are committed together or not at all.
pub async fn audit_in(
    tx: &mut forecourt_store::Tx,
    me: &Actor,
    action: &str,
    kind: &str,
    id: Option<&str>,
    detail: Value,
) -> AppResult<()> {
    let actor = me.audit_name();
    tx.audit(&AuditEntry {
        actor: &actor,
        action,
        target_kind: kind,
        target_id: id,
        source: me.source.as_deref(),
        detail,
    })
    .await?;
    Ok(())
}

//! Commands for a message link object: which number and request a Meta message id
//! belongs to.

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkMessage {
    pub link: LinkState,
}

impl GuardCall for LinkMessage {
    const OP: &'static str = "link_message";
    type Reply = ();
    fn apply(self, object: &mut GuardObject, _now_ms: u64) -> Result<(), WrongObject> {
        object.set_link(self.link)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolveMessage {}

impl GuardCall for ResolveMessage {
    const OP: &'static str = "resolve_message";
    type Reply = Option<LinkState>;
    fn apply(self, object: &mut GuardObject, _now_ms: u64) -> Result<Option<LinkState>, WrongObject> {
        object.link()
    }
}

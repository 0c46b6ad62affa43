mod invitation_page;

pub use invitation_page::InvitationPage;

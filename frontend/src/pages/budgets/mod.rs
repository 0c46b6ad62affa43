mod budgets_page;

pub use budgets_page::BudgetsPage;

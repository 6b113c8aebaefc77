"""The study database: tables and engine, migrations, and the records of studies,
raters, assignments, answers, access and the crowd-study checks."""

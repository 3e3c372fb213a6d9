DROP TABLE shifts, sessions, user_stores, users, stores;

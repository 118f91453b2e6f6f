/** A test that provokes a logged error on purpose sets `allow`; the setup file resets it after each test. */
export const expectedErrors = { allow: false };

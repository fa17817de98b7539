/** `url` with its login replaced by `login` (and its database by `database`, when given). */
export function urlAs(url: string, login: { user: string; password: string }, database?: string): string {
  const u = new URL(url);
  u.username = login.user;
  u.password = login.password;
  if (database !== undefined) u.pathname = `/${database}`;
  return u.toString();
}

// The signed-in session as React state (the token itself stays in api.ts's memory).
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { currentSession, renew, setSessionListener, type Session } from "./api";
import { can, type Action } from "./roles";

interface Auth {
  session: Session | null;
  /** True until the first renewal attempt at start has answered. */
  starting: boolean;
  can: (action: Action) => boolean;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(currentSession());
  const [starting, setStarting] = useState(true);
  useEffect(() => {
    setSessionListener(setSession);
    // A reload keeps no token: a refresh cookie, when the server sets one, renews it.
    renew().finally(() => setStarting(false));
  }, []);
  return (
    <AuthContext.Provider value={{ session, starting, can: (a) => can(session?.role, a) }}>
      {children}
    </AuthContext.Provider>
  );
}

export function useAuth(): Auth {
  const value = useContext(AuthContext);
  if (!value) throw new Error("useAuth outside AuthProvider");
  return value;
}

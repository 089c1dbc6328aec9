import { createContext, useContext } from 'react';
import type { Session, WhoAmI } from '../api/types.js';

export interface SignedIn {
  session: Session;
  whoami: WhoAmI;
}

export const SessionContext = createContext<SignedIn | undefined>(undefined);

/** Who is signed in and their roles per project (the shell provides it once signed in). */
export function useSignedIn(): SignedIn {
  const value = useContext(SessionContext);
  if (value === undefined) throw new Error('useSignedIn outside the signed-in shell');
  return value;
}

import { useState, type DragEvent, type ReactNode } from 'react';
import type { EnvironmentStatus } from '../../api/types.js';
import { mayIn } from '../../shell/roles.js';
import { useSignedIn } from '../../shell/session-context.js';

/** What is being dragged now: a card's release. (A drag over reads no data in Chrome, only types.) */
let dragged: { release: string; from: string } | undefined;

/** A card's release, draggable onto the card of an environment after it (*Promote to …* is the keyboard way). */
export function DraggableRelease({ release, from, children }: { release: string; from: string; children: ReactNode }) {
  return (
    <span
      className="draggable-release"
      draggable
      title={`Drag onto an environment after ${from} to promote this release there`}
      onDragStart={(e) => {
        dragged = { release, from };
        e.dataTransfer.setData('text/plain', release);
        e.dataTransfer.effectAllowed = 'copy';
      }}
      onDragEnd={() => {
        dragged = undefined;
      }}
    >
      {children}
    </span>
  );
}

/**
 * A card as a drop target: it accepts a release dragged from an environment it comes after, when the
 * signed-in person may promote there. A drop asks for confirmation (`offer`): nothing is promoted yet.
 */
export function useDropToPromote(project: string, env: EnvironmentStatus) {
  const { whoami } = useSignedIn();
  const [over, setOver] = useState(false);
  const [offer, setOffer] = useState<{ release: string; from: string } | undefined>();
  const accepts = (): boolean =>
    dragged !== undefined &&
    env.after.includes(dragged.from) &&
    dragged.release !== env.release &&
    mayIn(whoami, project, 'promote', env.environment);
  const handlers = {
    onDragOver: (e: DragEvent) => {
      if (!accepts()) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
      setOver(true);
    },
    onDragLeave: () => setOver(false),
    onDrop: (e: DragEvent) => {
      setOver(false);
      if (!accepts() || dragged === undefined) return;
      e.preventDefault();
      setOffer(dragged);
      dragged = undefined;
    },
  };
  return { handlers, over, offer, clear: () => setOffer(undefined) };
}

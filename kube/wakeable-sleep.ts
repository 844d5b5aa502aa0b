// A sleep that stop() can cut short: retry and renew loops must end at once
// on shutdown, not after their current wait.
export class WakeableSleep {
  private wakeUp: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Ends the current sleep now, if there is one. */
  wake(): void {
    this.wakeUp?.();
  }
}

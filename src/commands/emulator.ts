export async function run(_args: string[]): Promise<void> {
  throw new Error('the emulator command is not implemented yet');
}

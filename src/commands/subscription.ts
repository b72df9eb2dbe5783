export async function run(_args: string[]): Promise<void> {
  throw new Error('the subscription command is not implemented yet');
}

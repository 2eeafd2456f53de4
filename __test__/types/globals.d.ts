// What seed 001's snippets use from the app itself.
declare function fetchGithubRepos(): Promise<string[]>;

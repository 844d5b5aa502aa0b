// Who is asking, and may they: TokenReview and SubjectAccessReview, the API
// server's delegated authentication and authorization (as kube-rbac-proxy and
// controller-runtime's metrics filter use them). Errors are KubeApiErrors
// from the one place that reads them.
import type { KubeRequester } from './rest.ts';

export interface ReviewedUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** A token's review: who it is, or why it is no one. */
export type TokenVerdict = { authenticated: true; user: ReviewedUser } | { authenticated: false; error: string };

/** May `user` get the non-resource URL `path`? */
export interface AccessVerdict {
  allowed: boolean;
  reason: string;
}

export interface AccessReviewer {
  reviewToken(token: string): Promise<TokenVerdict>;
  reviewAccess(user: ReviewedUser, path: string): Promise<AccessVerdict>;
}

interface TokenReviewAnswer {
  status?: { authenticated?: boolean; user?: ReviewedUser; error?: string };
}

interface SubjectAccessReviewAnswer {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

export class KubeAccessReviewer implements AccessReviewer {
  private readonly rest: KubeRequester;

  constructor(rest: KubeRequester) {
    this.rest = rest;
  }

  async reviewToken(token: string): Promise<TokenVerdict> {
    const answer = await this.rest.request<TokenReviewAnswer>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      what: 'create TokenReview',
    });
    const status = answer.status ?? {};
    if (status.authenticated === true && status.user?.username !== undefined) return { authenticated: true, user: status.user };
    return { authenticated: false, error: status.error ?? 'the API server did not authenticate the token' };
  }

  async reviewAccess(user: ReviewedUser, path: string): Promise<AccessVerdict> {
    const answer = await this.rest.request<SubjectAccessReviewAnswer>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          ...(user.uid === undefined ? {} : { uid: user.uid }),
          groups: user.groups ?? [],
          ...(user.extra === undefined ? {} : { extra: user.extra }),
          nonResourceAttributes: { path, verb: 'get' },
        },
      },
      what: 'create SubjectAccessReview',
    });
    const status = answer.status ?? {};
    return { allowed: status.allowed === true, reason: status.reason ?? status.evaluationError ?? '' };
  }
}
